// The chat's calls: the contract's documents by name over HTTP, with the
// session's token, and its errors as `ApiError` (code, field) so the page
// can branch on `extensions.code` as the contract says.
import { bearer, postGraphQL } from '../common/graphql.js';
import { contractDocument } from '../common/contract.js';

/** A GraphQL error answer: its errors, the first one's code. */
export class ApiError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join(' '));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code;
  }
}

/**
 * `call(name, variables)` resolves to `data`, or rejects with an
 * `ApiError` when no field came back; partial data (one provider down)
 * still resolves. `onUnauthenticated` runs when the session is gone.
 */
export function createApi(token, onUnauthenticated) {
  return async function call(name, variables = {}) {
    const headers = token() ? { authorization: bearer(token()) } : {};
    const body = await postGraphQL({ query: contractDocument(name), variables, operationName: name }, headers);
    const errors = body.errors ?? [];
    const fields = body.data ? Object.values(body.data) : [];
    if (errors.length > 0 && fields.every((v) => v === null || v === undefined)) {
      const error = new ApiError(errors);
      if (error.code === 'UNAUTHENTICATED') onUnauthenticated();
      throw error;
    }
    return body.data;
  };
}
