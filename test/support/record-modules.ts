import { register } from 'node:module';

/** `node --import dist/test/support/record-modules.js …`: records imports to $LOOKASIDE_MODULES_FILE (see module-recorder.ts). */
const file = process.env['LOOKASIDE_MODULES_FILE'];
if (file !== undefined && file !== '') register('./module-recorder.js', import.meta.url, { data: { file } });
