// The flag of each library option that an error of the library names (io/errors.ts): the errors
// say `microBatch`, the command says `--micro-batch`. errorMessage (command.ts) renders every
// LibraryError with these names. The table is shared by every command, so a message may name a
// flag that only another command has (a diverged run inside `resnet experiment` names --lr).

import type { OptionNames } from '../io/errors.js';
import { SETTING_FLAGS } from '../train/run-settings.js';

/** Library option → flag. */
export const OPTION_FLAGS: Readonly<Record<string, string>> = {
  ...SETTING_FLAGS,
  batchSize: '--batch-size', iterations: '--iterations', epochs: '--epochs', lr: '--lr', warmup: '--warmup',
  lightingStd: '--lighting', validation: '--val', imageSize: '--image-size',
  data: '--data', dataDir: '--data-dir', split: '--split', net: '--net',
  resume: '--resume', overwrite: '--overwrite', outDir: '--out', out: '--out',
  crop: '--crop', sides: '--sides', backend: '--backend',
};

/** Library functions → the command that does their work. */
const COMMAND_OF: Readonly<Record<string, (arg: string) => string>> = {
  downloadCifar10: (dir) => `resnet data get cifar10 --dir ${dir}`,
};

/** Options as the command line names them: `--lighting 0`, `--read-limit maxImagePixels=N`. */
export const FLAG_NAMES: OptionNames = {
  option: (name, value) => {
    const flag = OPTION_FLAGS[name] ?? name;
    return value === undefined ? flag : `${flag} ${value.replace(/^'(.*)'$/, '$1')}`;
  },
  readLimit: (name) => `--read-limit ${name}=N`,
  call: (fn, arg) => {
    const command = COMMAND_OF[fn];
    return command ? `\`${command(arg)}\`` : `${fn}('${arg}')`;
  },
};
