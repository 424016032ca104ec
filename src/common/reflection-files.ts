import descriptor from 'protobufjs/ext/descriptor/index.js';

/**
 * proto-loader hands out one FileDescriptorProto per package with an empty
 * `dependency` list, and @grpc/reflection serves them as they are
 * (grpc/grpc-node#2595). A reflection client that links what it receives
 * (buf curl, grpcurl) then cannot resolve a type defined in another file,
 * and refuses the whole schema. This fills in each file's dependencies:
 * the files that define the types its fields, methods and extensions name.
 */

interface FieldShape {
  typeName?: string;
  extendee?: string;
}

interface MessageShape {
  name?: string;
  reservedRange?: Array<{ start?: number; end?: number }>;
  extensionRange?: Array<{ start?: number; end?: number }>;
  options?: { mapEntry?: boolean } | null;
  field?: Array<FieldShape & { name?: string }>;
  extension?: FieldShape[];
  nestedType?: MessageShape[];
  enumType?: Array<{ name?: string }>;
}

interface FileShape extends MessageShape {
  name?: string;
  package?: string;
  dependency?: string[];
  messageType?: MessageShape[];
  service?: Array<{ name?: string; method?: Array<{ inputType?: string; outputType?: string }> }>;
}

/**
 * Where protobuf's well-known types live. proto-loader puts every
 * google.protobuf type into one `google_protobuf.proto`; a client with the
 * well-known types built in (buf, grpcurl) sees each of them defined twice and
 * gives up, so they are served under their usual file names.
 */
const WELL_KNOWN_FILES: Readonly<Record<string, string>> = {
  Any: 'any',
  Duration: 'duration',
  Empty: 'empty',
  FieldMask: 'field_mask',
  Timestamp: 'timestamp',
  Struct: 'struct',
  Value: 'struct',
  ListValue: 'struct',
  NullValue: 'struct',
  ...Object.fromEntries(
    ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((kind) => [`${kind}Value`, 'wrappers']),
  ),
};

/** The same files (encoded FileDescriptorProtos), each listing the files it refers to. */
export function withDependencies(files: readonly Buffer[]): Buffer[] {
  const decoded = files.flatMap((file) => splitWellKnown(descriptor.FileDescriptorProto.decode(file) as unknown as FileShape));
  for (const file of decoded) for (const message of file.messageType ?? []) repairMessage(message);
  const definedIn = new Map<string, string>();
  for (const file of decoded) {
    const prefix = file.package ? `.${file.package}.` : '.';
    for (const message of file.messageType ?? []) indexMessage(message, prefix, file.name ?? '', definedIn);
    for (const enumType of file.enumType ?? []) definedIn.set(`${prefix}${enumType.name}`, file.name ?? '');
    for (const service of file.service ?? []) definedIn.set(`${prefix}${service.name}`, file.name ?? '');
  }
  return decoded.map((file) => {
    const packageScope = file.package ? `.${file.package}` : '';
    const needed = new Set<string>();
    const need = (typeName: string | undefined, scope: string): void => {
      const home = typeName === undefined || typeName === '' ? undefined : definedIn.get(resolve(typeName, scope, definedIn));
      if (home !== undefined && home !== file.name) needed.add(home);
    };
    for (const message of file.messageType ?? []) visitReferences(message, `${packageScope}.${message.name}`, need);
    for (const extension of file.extension ?? []) {
      need(extension.typeName, packageScope);
      need(extension.extendee, packageScope);
    }
    for (const service of file.service ?? []) {
      for (const method of service.method ?? []) {
        need(method.inputType, `${packageScope}.${service.name}`);
        need(method.outputType, `${packageScope}.${service.name}`);
      }
    }
    const linked = { ...file, dependency: [...new Set([...(file.dependency ?? []), ...needed])].sort() };
    return Buffer.from(descriptor.FileDescriptorProto.encode(descriptor.FileDescriptorProto.fromObject(linked)).finish());
  });
}

/**
 * The full name (with its leading dot) a type name refers to from inside
 * `scope`: descriptors from proto-loader keep names as the .proto wrote them,
 * so a relative name is looked up in the scope, then each enclosing one.
 */
function resolve(typeName: string, scope: string, defined: ReadonlyMap<string, string>): string {
  if (typeName.startsWith('.')) return typeName;
  const parts = scope.split('.');
  for (let depth = parts.length; depth >= 1; depth--) {
    const candidate = `${parts.slice(0, depth).join('.')}.${typeName}`;
    if (defined.has(candidate)) return candidate;
  }
  return `.${typeName}`;
}

/** google.protobuf's merged file as the usual ones (anything else there is descriptor.proto's). */
function splitWellKnown(file: FileShape): FileShape[] {
  if (file.package !== 'google.protobuf') return [file];
  const byFile = new Map<string, FileShape>();
  const home = (typeName: string | undefined): FileShape => {
    const name = `google/protobuf/${WELL_KNOWN_FILES[typeName ?? ''] ?? 'descriptor'}.proto`;
    let split = byFile.get(name);
    if (split === undefined) {
      split = { ...file, name, messageType: [], enumType: [], service: [], extension: [], dependency: [] };
      byFile.set(name, split);
    }
    return split;
  };
  for (const message of file.messageType ?? []) home(message.name).messageType?.push(message);
  for (const enumType of file.enumType ?? []) home(enumType.name).enumType?.push(enumType);
  return [...byFile.values()];
}

/**
 * Two slips of protobufjs's descriptors that a strict linker (Go's protodesc,
 * so buf) refuses: it writes a range's end as inclusive (descriptors count it
 * exclusive), and it names a map field's entry type after the field
 * ("Params" for `params`, where protoc says "ParamsEntry").
 */
function repairMessage(message: MessageShape): void {
  for (const range of [...(message.reservedRange ?? []), ...(message.extensionRange ?? [])]) {
    if (range.end !== undefined) range.end += 1;
  }
  for (const nested of message.nestedType ?? []) {
    repairMessage(nested);
    if (nested.options?.mapEntry !== true) continue;
    const field = message.field?.find((candidate) => candidate.typeName === nested.name || candidate.typeName?.endsWith(`.${nested.name}`));
    if (field?.name === undefined) continue;
    const entryName = `${field.name.replace(/(?:^|_)([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())}Entry`;
    nested.name = entryName;
    field.typeName = entryName;
  }
}

function indexMessage(message: MessageShape, prefix: string, fileName: string, definedIn: Map<string, string>): void {
  const fullName = `${prefix}${message.name}`;
  definedIn.set(fullName, fileName);
  for (const nested of message.nestedType ?? []) indexMessage(nested, `${fullName}.`, fileName, definedIn);
  for (const enumType of message.enumType ?? []) definedIn.set(`${fullName}.${enumType.name}`, fileName);
}

function visitReferences(message: MessageShape, scope: string, need: (typeName: string | undefined, scope: string) => void): void {
  for (const field of message.field ?? []) need(field.typeName, scope);
  for (const extension of message.extension ?? []) {
    need(extension.typeName, scope);
    need(extension.extendee, scope);
  }
  for (const nested of message.nestedType ?? []) visitReferences(nested, `${scope}.${nested.name}`, need);
}
