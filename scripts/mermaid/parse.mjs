// Parse a Mermaid diagram from stdin with Mermaid's own parser (npm `mermaid`, under a jsdom
// window: Mermaid sanitises labels with DOMPurify, which needs a DOM). Exit 0 and print the
// diagram type when it parses; exit 1 with Mermaid's message when it does not.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

let text = "";
for await (const chunk of process.stdin) text += chunk;
try {
  const result = await mermaid.parse(text);
  console.log(result.diagramType);
} catch (error) {
  console.error(String(error?.message ?? error));
  process.exit(1);
}
