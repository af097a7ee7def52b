// `resnet report DIR`: figures, an HTML page and a Markdown summary of an experiment or a training run.

import { type Command, UsageError, parseFlags } from './command.js';

export const reportCommand: Command = {
  name: 'report',
  summary: 'figures (SVG), an HTML page and a Markdown summary of an experiment or a training run folder',
  usage: `Usage: resnet report DIR [--out DIR2]

DIR is an experiment folder (\`resnet experiment\`'s --out, with experiment.json) or one training
run's folder (\`resnet train\`'s --out, with log.jsonl). An experiment gets the paper's figures
(training and test error against iterations, plain | residual; Fig. 7's layer responses) and its
table with the paper's numbers beside ours; a run gets its loss and error curves.

  --out DIR2             where the report goes (default DIR/report): README.md (Markdown summary),
                         index.html, and the figures as .svg`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { out: { type: 'string' } }, true);
    if (positionals.length !== 1) throw new UsageError('report needs one DIR (an experiment or a training run folder)');
    // Loaded here: the charting library takes a while to load, and no other command needs it.
    const { writeReport } = await import('../report/report.js');
    const r = await writeReport(positionals[0], { out: values.out });
    console.log(`report written to ${r.out}: ${r.files.join(', ')}`);
  },
};
