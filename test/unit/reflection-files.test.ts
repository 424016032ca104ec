import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadSync } from '@grpc/proto-loader';
import descriptor from 'protobufjs/ext/descriptor/index.js';

import { withDependencies } from '../../src/common/reflection-files.js';

interface Described {
  name: string;
  package: string;
  dependency: string[];
  messageType: Array<{
    name: string;
    field: Array<{ name: string; typeName?: string }>;
    nestedType: Array<{ name: string }>;
    reservedRange: Array<{ start: number; end: number }>;
  }>;
}

const PROTO = `syntax = "proto3";
package shop.v1;
import "google/protobuf/duration.proto";
import "google/protobuf/any.proto";
import "other.proto";
service Shop { rpc Buy(Order) returns (other.v1.Receipt) {} }
message Order {
  reserved 4;
  map<string, string> tag_values = 1;
  google.protobuf.Duration wait = 2;
  google.protobuf.Any extra = 3;
}
`;

describe('reflection files (what buf curl and grpcurl link)', () => {
  let directory: string;
  let files: Map<string, Described>;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'reflection-'));
    await writeFile(join(directory, 'shop.proto'), PROTO);
    await writeFile(join(directory, 'other.proto'), 'syntax = "proto3";\npackage other.v1;\nmessage Receipt { string id = 1; }\n');
    const definition = loadSync('shop.proto', { keepCase: true, includeDirs: [directory] });
    const buffers = new Set<Buffer>();
    for (const type of Object.values(definition)) for (const file of (type as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos ?? []) buffers.add(file);
    files = new Map(
      withDependencies([...buffers]).map((bytes) => {
        const file = descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(bytes), { arrays: true }) as Described;
        return [file.name, file];
      }),
    );
  });

  after(() => rm(directory, { recursive: true, force: true }));

  it('lists in each file the files that define the types it names, relative names included', () => {
    const shop = [...files.values()].find((file) => file.package === 'shop.v1');
    assert.deepEqual(shop?.dependency, ['google/protobuf/any.proto', 'google/protobuf/duration.proto', 'other_v1.proto']);
  });

  it('serves the well-known types under their usual file names', () => {
    assert.deepEqual(files.get('google/protobuf/duration.proto')?.messageType.map((type) => type.name), ['Duration']);
    assert.deepEqual(files.get('google/protobuf/any.proto')?.messageType.map((type) => type.name), ['Any']);
    assert.ok(![...files.keys()].includes('google_protobuf.proto'));
  });

  it('names a map entry as protoc does and counts range ends exclusive', () => {
    const order = [...files.values()].flatMap((file) => file.messageType).find((type) => type.name === 'Order');
    assert.deepEqual(order?.nestedType.map((type) => type.name), ['TagValuesEntry']);
    assert.equal(order?.field.find((field) => field.name === 'tag_values')?.typeName, 'TagValuesEntry');
    assert.deepEqual(order?.reservedRange, [{ start: 4, end: 5 }]);
  });
});
