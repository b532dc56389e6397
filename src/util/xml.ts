/**
 * Small helpers over a W3C DOM (@xmldom/xmldom) for reading and editing
 * libvirt's XML documents. Parsing is strict: malformed XML is a typed error,
 * not a half-read document.
 */
import { createRequire } from 'node:module';
import type * as Xmldom from '@xmldom/xmldom';
import type { Document, Element } from '@xmldom/xmldom';
import { BrankasError } from './errors.js';

/**
 * xmldom, loaded on first use: a command that parses no XML (`--version`, `status` of VMs
 * without snapshots) does not pay for loading it, a fifth of `brankas --version` (bench/fixed-costs.ts).
 */
let xmldom: typeof Xmldom | undefined;
function dom(): typeof Xmldom {
  xmldom ??= createRequire(import.meta.url)('@xmldom/xmldom') as typeof Xmldom;
  return xmldom;
}

export type { Document, Element };

export function parseXml(text: string, what = 'XML'): Document {
  let firstError: string | undefined;
  const parser = new (dom().DOMParser)({
    onError: (level, msg) => {
      if (level !== 'warning') firstError ??= msg;
    },
  });
  let doc: Document;
  try {
    doc = parser.parseFromString(text, 'text/xml');
  } catch (err) {
    throw new BrankasError('XML_INVALID', `${what} is not well-formed XML: ${String(err)}`);
  }
  if (firstError || !doc.documentElement) {
    throw new BrankasError(
      'XML_INVALID',
      `${what} is not well-formed XML: ${firstError ?? 'empty'}`,
    );
  }
  return doc;
}

export function serializeXml(node: Document | Element): string {
  return new (dom().XMLSerializer)().serializeToString(node);
}

/** Direct children of `el` with the given tag name. */
export function children(el: Element, tag: string): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).tagName === tag) out.push(n as Element);
  }
  return out;
}

export function child(el: Element, tag: string): Element | undefined {
  return children(el, tag)[0];
}

/** Follows a path of direct-child tag names, e.g. path(root, 'devices', 'disk'). */
export function path(el: Element, ...tags: string[]): Element | undefined {
  let cur: Element | undefined = el;
  for (const t of tags) {
    if (!cur) return undefined;
    cur = child(cur, t);
  }
  return cur;
}

export function text(el: Element | undefined): string | undefined {
  if (!el) return undefined;
  return el.textContent ?? undefined;
}

export function attr(el: Element | undefined, name: string): string | undefined {
  if (!el || !el.hasAttribute(name)) return undefined;
  return el.getAttribute(name) ?? undefined;
}

/** Text safe inside XML element content and attribute values. */
export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
