// A small element builder: `el('button', { class: 'book', onclick }, 'Book')`.
// Text is always set as text, never parsed as HTML, so nothing the server
// or the traveller writes can become markup.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A unique id for label/description links. */
let next = 0;
export function uid(prefix) {
  next += 1;
  return `${prefix}-${next}`;
}
