/** Validates real responses against the served OpenAPI document (JSON Schema 2020-12 via Ajv). */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type request from 'supertest';

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>; components: unknown };

const BASE = 'https://keyward.test/openapi.json';

export class SpecValidator {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });

  constructor(private readonly doc: Doc) {
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: BASE, components: doc.components });
  }

  /** Throws unless the response's status is documented for the operation and its body matches. */
  check(res: request.Response, method: string, template: string): void {
    const operation = this.doc.paths[template]?.[method.toLowerCase()];
    if (!operation) throw new Error(`${method} ${template} is not in the OpenAPI document`);
    const response = operation.responses[String(res.status)];
    if (!response) throw new Error(`${method} ${template} answered ${res.status}, which the document does not list`);
    if (res.status === 204) return;
    const media = response.content?.['application/json'];
    if (!media) throw new Error(`${method} ${template} ${res.status} has no JSON schema`);
    const schema = JSON.parse(JSON.stringify(media.schema).replace(/"#\/components/g, `"${BASE}#/components`));
    const validate = this.ajv.compile(schema);
    if (!validate(res.body)) {
      throw new Error(`${method} ${template} ${res.status} does not match the document: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(res.body).slice(0, 500)}`);
    }
  }
}
