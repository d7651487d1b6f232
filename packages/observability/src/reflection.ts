/**
 * gRPC server reflection (so `grpcurl` can list and describe the services),
 * fed from protobuf-es descriptors: @grpc/reflection reads only the serialized
 * FileDescriptorProtos of a proto-loader package definition, which we build
 * from the generated files instead of loading .proto files at run time.
 */
import type * as grpc from '@grpc/grpc-js';
import { toBinary, type DescFile } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { ReflectionService } from '@grpc/reflection';

function withDependencies(file: DescFile, seen = new Set<string>()): DescFile[] {
  if (seen.has(file.name)) return [];
  seen.add(file.name);
  return [file, ...file.dependencies.flatMap((dep) => withDependencies(dep, seen))];
}

export function addReflection(server: grpc.Server, files: readonly DescFile[]): void {
  const all = new Map<string, DescFile>();
  for (const file of files) for (const f of withDependencies(file)) all.set(f.name, f);
  const fileDescriptorProtos = [...all.values()].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  const packageDefinition = {
    'secagg.descriptors': { format: 'Protocol Buffer 3 FileDescriptorProto', type: {}, fileDescriptorProtos },
  };
  new ReflectionService(packageDefinition as never).addToServer(server);
}
