import assert from 'node:assert/strict';

import { isRfc1123Label } from '../../src/common/addresses.js';
import { checkLabel, quoteInput } from '../../src/lookaside/validation.js';

describe('RFC 1123 label validation', () => {
  it('accepts lower-case names with digits and inner dashes, up to 63 characters', () => {
    for (const name of ['a', 'greetserver', 'greet-server-2', '0abc', 'a'.repeat(63)]) {
      assert.ok(isRfc1123Label(name), name);
    }
  });

  it('rejects upper case, underscores, dots, edge dashes, spaces, unicode and long names', () => {
    for (const name of ['Greet', 'greet_server', 'greet.server', '-greet', 'greet-', 'gr eet', 'grüße', 'a'.repeat(64), '']) {
      assert.ok(!isRfc1123Label(name), name);
    }
  });

  it('says which field is wrong and why', () => {
    assert.match(checkLabel('service', 'Bad_Name', true) ?? '', /^service "Bad_Name" is not a valid name: it must be an RFC 1123 label/);
    assert.equal(checkLabel('service', '', true), 'service is required');
    assert.equal(checkLabel('namespace', '', false), undefined);
    assert.equal(checkLabel('namespace', 'prod', false), undefined);
  });

  it('cuts huge input short in messages', () => {
    const quoted = quoteInput('x'.repeat(10_000));
    assert.ok(quoted.length < 100, `length ${quoted.length}`);
    assert.match(quoted, /…"$/);
  });
});
