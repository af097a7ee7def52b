// A report's content as a list of blocks, written out twice: as Markdown (for a README) and as an
// HTML page beside the SVG figures.

export type Block =
  | { kind: 'h1' | 'h2' | 'p'; text: string }
  | { kind: 'list'; items: string[] }
  | { kind: 'code'; text: string }
  | { kind: 'figure'; file: string; alt: string }
  | { kind: 'table'; headers: string[]; rows: string[][] };

export function toMarkdown(blocks: Block[]): string {
  const out = blocks.map((b) => {
    switch (b.kind) {
      case 'h1': return `# ${b.text}`;
      case 'h2': return `## ${b.text}`;
      case 'p': return b.text;
      case 'list': return b.items.map((i) => `- ${i}`).join('\n');
      case 'code': return `\`\`\`\n${b.text}\n\`\`\``;
      case 'figure': return `![${b.alt}](${b.file})`;
      case 'table': return [
        `| ${b.headers.join(' | ')} |`,
        `|${b.headers.map(() => '---').join('|')}|`,
        ...b.rows.map((r) => `| ${r.join(' | ')} |`),
      ].join('\n');
    }
  });
  return `${out.join('\n\n')}\n`;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** Markdown's inline code and bold, as HTML. */
const inline = (s: string) => escape(s).replace(/`([^`]+)`/g, '<code>$1</code>').replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>');

export function toHtml(title: string, blocks: Block[]): string {
  const body = blocks.map((b) => {
    switch (b.kind) {
      case 'h1': return `<h1>${inline(b.text)}</h1>`;
      case 'h2': return `<h2>${inline(b.text)}</h2>`;
      case 'p': return `<p>${inline(b.text)}</p>`;
      case 'list': return `<ul>${b.items.map((i) => `<li>${inline(i)}</li>`).join('')}</ul>`;
      case 'code': return `<pre>${escape(b.text)}</pre>`;
      case 'figure': return `<figure><img src="${escape(b.file)}" alt="${escape(b.alt)}"></figure>`;
      case 'table': return `<table><tr>${b.headers.map((h) => `<th>${inline(h)}</th>`).join('')}</tr>` +
        b.rows.map((r) => `<tr>${r.map((c) => `<td>${inline(c)}</td>`).join('')}</tr>`).join('') + '</table>';
    }
  });
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.45}table{border-collapse:collapse}
td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}pre{background:#f4f4f4;padding:8px;overflow-x:auto}
img{max-width:100%}</style></head>
<body>
${body.join('\n')}
</body></html>
`;
}
