import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import schema from '../__fixtures__/openvex_json_schema_0.2.0.json';

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(schema);

/** Validates a document against the OpenVEX v0.2.0 JSON schema; returns the errors. */
export function validateOpenVex(doc: unknown): string[] {
  if (validate(doc)) return [];
  return (validate.errors ?? []).map(e => `${e.instancePath} ${e.message}`);
}
