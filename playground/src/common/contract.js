// The frontend contract's documents by name. src/operations.graphql is a
// verbatim copy of contract/operations.graphql (a server test checks that
// it has not drifted); `contractDocument('SendMessage')` is that operation
// followed by every fragment it uses, directly or through other fragments,
// exactly as the contract writes them.
import contract from '../operations.graphql';

const DEFINITION = /^(query|mutation|subscription|fragment)\s+(\w+)/;

// Top-level definitions, split by brace depth (the contract has no string
// literals, so braces only ever delimit selections). Comments are skipped.
function split(text) {
  const definitions = new Map();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const head = DEFINITION.exec(lines[i]);
    if (!head) continue;
    let depth = 0;
    let opened = false;
    const body = [];
    for (; i < lines.length; i += 1) {
      const line = lines[i].replace(/#.*$/, '');
      body.push(lines[i]);
      for (const ch of line) {
        if (ch === '{') { depth += 1; opened = true; }
        if (ch === '}') depth -= 1;
      }
      if (opened && depth === 0) break;
    }
    definitions.set(head[2], { kind: head[1], name: head[2], text: body.join('\n') });
  }
  return definitions;
}

const DEFINITIONS = split(contract);

function fragmentsOf(text, found = []) {
  for (const [, name] of text.matchAll(/\.\.\.\s*(\w+)/g)) {
    const fragment = DEFINITIONS.get(name);
    if (fragment && fragment.kind === 'fragment' && !found.includes(name)) {
      found.push(name);
      fragmentsOf(fragment.text, found);
    }
  }
  return found;
}

/** Every operation of the contract: `[{ kind, name, text }]`, in the contract's order. */
export const contractOperations = [...DEFINITIONS.values()].filter((d) => d.kind !== 'fragment');

/** The operation `name` with the fragments it needs, ready to send. */
export function contractDocument(name) {
  const operation = DEFINITIONS.get(name);
  if (!operation || operation.kind === 'fragment') {
    throw new Error(`${name} is not an operation of the contract`);
  }
  return [operation.text, ...fragmentsOf(operation.text).map((f) => DEFINITIONS.get(f).text)].join('\n\n');
}
