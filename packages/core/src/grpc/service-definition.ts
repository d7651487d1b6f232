/**
 * The one adapter between protobuf-es v2 service descriptors and grpc-js.
 * protoc-gen-es v2 generates no grpc-js stubs; grpc-js only needs, per method,
 * a path, the streaming flags and (de)serializers, all derivable from the
 * `DescService`.
 */
import { fromBinary, toBinary, create, type DescMessage, type DescMethod, type DescService } from '@bufbuild/protobuf';
import type { MessageShape } from '@bufbuild/protobuf';
import type * as grpc from '@grpc/grpc-js';

/** Wraps protobuf-es output as a Buffer without copying (grpc-js requires a Buffer). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function serializerFor(schema: DescMessage): (value: unknown) => Buffer {
  return (value) => asBuffer(toBinary(schema, create(schema, value as MessageShape<DescMessage>)));
}

export function deserializerFor(schema: DescMessage): (bytes: Buffer) => unknown {
  // fromBinary keeps `bytes` fields as views into `bytes`; grpc-js hands us a
  // fresh Buffer per message, so the views stay valid for the message's life.
  return (bytes) => fromBinary(schema, bytes);
}

/**
 * A request that did not parse as its protobuf message. The server-side
 * deserializer returns it instead of throwing because grpc-js answers a
 * throwing deserializer with INTERNAL; the handler wrapper (`addService`)
 * turns it into INVALID_ARGUMENT: bad client bytes are the client's error.
 */
export class MalformedMessage {
  constructor(
    readonly typeName: string,
    readonly reason: string,
  ) {}
}

/** The server's request deserializer: a {@link MalformedMessage} instead of an exception. */
export function requestDeserializerFor(schema: DescMessage): (bytes: Buffer) => unknown {
  const parse = deserializerFor(schema);
  return (bytes) => {
    try {
      return parse(bytes);
    } catch (error) {
      // protobuf-es messages name the problem ("premature EOF", "invalid wire type"), never the bytes.
      return new MalformedMessage(schema.typeName, String((error as Error)?.message ?? error).slice(0, 120));
    }
  };
}

/** `/secagg.client.v1.ClientService/SubmitUpdate` */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** The grpc-js service definition of a protobuf-es service, keyed by local method name. */
export function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: serializerFor(method.input),
      requestDeserialize: requestDeserializerFor(method.input),
      responseSerialize: serializerFor(method.output),
      responseDeserialize: deserializerFor(method.output),
      originalName: method.name,
    };
  }
  return definition;
}
