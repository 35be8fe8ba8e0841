// SPDX-License-Identifier: Apache-2.0
/**
 * A strict little XML reader for the tests: elements, attributes, text,
 * CDATA, comments, the declaration. It throws on what is not well-formed
 * (an unclosed or mismatched tag, a bad attribute, a raw `<` or `&`), which
 * is what a browser would refuse to open as SVG.
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** the text directly inside, entities decoded, CDATA included */
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, where: number): string {
  if (/[<]/.test(raw)) throw new Error(`raw < at ${where}`);
  return raw.replace(/&([^;\s]*);?/g, (m, name: string) => {
    if (!m.endsWith(';')) throw new Error(`bare & at ${where}`);
    if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)));
    const e = ENTITIES[name];
    if (e === undefined) throw new Error(`unknown entity &${name}; at ${where}`);
    return e;
  });
}

export function parseSvg(text: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
  while (i < text.length) {
    if (text.startsWith('<?', i)) {
      i = text.indexOf('?>', i) + 2;
    } else if (text.startsWith('<!--', i)) {
      i = text.indexOf('-->', i) + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i);
      if (end < 0 || !stack.length) throw new Error(`CDATA at ${i}`);
      (stack.at(-1) as XmlElement).text += text.slice(i + 9, end);
      i = end + 3;
    } else if (text.startsWith('</', i)) {
      const end = text.indexOf('>', i);
      const name = text.slice(i + 2, end).trim();
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`</${name}> closes <${open?.name}> at ${i}`);
      i = end + 1;
    } else if (text[i] === '<') {
      NAME.lastIndex = i + 1;
      const m = NAME.exec(text);
      if (!m) throw new Error(`bad tag at ${i}`);
      const el: XmlElement = { name: m[0], attributes: {}, children: [], text: '' };
      i = NAME.lastIndex;
      const ATTR = /\s+([A-Za-z_:][-A-Za-z0-9_:.]*)="([^"]*)"|\s*(\/?>)/y;
      for (;;) {
        ATTR.lastIndex = i;
        const a = ATTR.exec(text);
        if (!a) throw new Error(`bad attribute in <${el.name}> at ${i}: ${text.slice(i, i + 40)}`);
        i = ATTR.lastIndex;
        if (a[3]) {
          if (stack.length) (stack.at(-1) as XmlElement).children.push(el);
          else if (root) throw new Error('two root elements');
          else root = el;
          if (a[3] === '>') stack.push(el);
          break;
        }
        if ((a[1] as string) in el.attributes) throw new Error(`duplicate ${a[1]} at ${i}`);
        el.attributes[a[1] as string] = decode(a[2] as string, i);
      }
    } else {
      const end = text.indexOf('<', i);
      const raw = text.slice(i, end < 0 ? text.length : end);
      if (stack.length) (stack.at(-1) as XmlElement).text += decode(raw, i);
      else if (raw.trim()) throw new Error(`text outside the root at ${i}`);
      i = end < 0 ? text.length : end;
    }
  }
  if (stack.length) throw new Error(`<${stack.at(-1)?.name}> is not closed`);
  if (!root) throw new Error('no root element');
  return root;
}
