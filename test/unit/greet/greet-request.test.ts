import assert from 'node:assert/strict';

import { checkGreetHeaders, MAX_BODY_BYTES, parseGreetBody } from '../../../src/greet/gateway/greet-request.js';

function problemOf(text: string): { status: number; code: string; message: string } | undefined {
  const parsed = parseGreetBody(text);
  return parsed.ok ? undefined : parsed.problem;
}

describe('POST /greet input checks', () => {
  describe('headers', () => {
    it('accepts application/json, with or without a charset, in any case', () => {
      assert.equal(checkGreetHeaders({ 'content-type': 'application/json' }), undefined);
      assert.equal(checkGreetHeaders({ 'content-type': 'Application/JSON; charset=utf-8' }), undefined);
    });

    it('refuses a missing or different content-type with 415', () => {
      assert.equal(checkGreetHeaders({})?.status, 415);
      const problem = checkGreetHeaders({ 'content-type': 'text/plain' });
      assert.equal(problem?.status, 415);
      assert.equal(problem?.code, 'UNSUPPORTED_MEDIA_TYPE');
      assert.match(problem?.message ?? '', /text\/plain/);
    });

    it('refuses a compressed body with 415', () => {
      assert.equal(checkGreetHeaders({ 'content-type': 'application/json', 'content-encoding': 'gzip' })?.status, 415);
      assert.equal(checkGreetHeaders({ 'content-type': 'application/json', 'content-encoding': 'identity' }), undefined);
    });

    it('refuses a declared length over 16 KiB with 413 before reading it', () => {
      const problem = checkGreetHeaders({ 'content-type': 'application/json', 'content-length': String(MAX_BODY_BYTES + 1) });
      assert.equal(problem?.status, 413);
      assert.equal(problem?.code, 'PAYLOAD_TOO_LARGE');
      assert.equal(checkGreetHeaders({ 'content-type': 'application/json', 'content-length': String(MAX_BODY_BYTES) }), undefined);
    });
  });

  describe('body', () => {
    it('returns both names from a valid body and ignores other fields', () => {
      assert.deepEqual(parseGreetBody('{"first_name":"Ada","last_name":"Lovelace","extra":1}'), {
        ok: true,
        value: { first_name: 'Ada', last_name: 'Lovelace' },
      });
    });

    it('says INVALID_JSON for text that is not JSON', () => {
      const problem = problemOf('{"first_name": "Ada"');
      assert.equal(problem?.status, 400);
      assert.equal(problem?.code, 'INVALID_JSON');
    });

    it('wants a JSON object, not an array, string or null', () => {
      for (const text of ['[]', '"Ada"', 'null', '42']) {
        assert.equal(problemOf(text)?.code, 'INVALID_ARGUMENT', text);
        assert.match(problemOf(text)?.message ?? '', /JSON object/);
      }
    });

    it('names the missing field', () => {
      assert.match(problemOf('{"last_name":"Lovelace"}')?.message ?? '', /first_name is required/);
      assert.match(problemOf('{"first_name":"Ada"}')?.message ?? '', /last_name is required/);
    });

    it('refuses names that are not strings, or blank', () => {
      assert.match(problemOf('{"first_name":42,"last_name":"L"}')?.message ?? '', /first_name must be a string, got a number/);
      assert.match(problemOf('{"first_name":"A","last_name":["L"]}')?.message ?? '', /last_name must be a string, got an array/);
      assert.match(problemOf('{"first_name":"  ","last_name":"L"}')?.message ?? '', /first_name must not be empty/);
    });

    it('refuses names with control characters (C0 with tabs and line breaks, DEL, C1, U+2028/9), naming the character', () => {
      const cases: [string, string][] = [
        ['Ada\u0000', 'U+0000'],
        ['Ada\tB', 'U+0009'],
        ['Ada\nB', 'U+000A'],
        ['Ada\r', 'U+000D'],
        ['\u001b[31mAda', 'U+001B'],
        ['Ada\u007f', 'U+007F'],
        ['Ada\u0085', 'U+0085'],
        ['Ada\u009b', 'U+009B'],
        ['Ada\u2028', 'U+2028'],
      ];
      for (const [name, codePoint] of cases) {
        const problem = problemOf(JSON.stringify({ first_name: 'Ada', last_name: name }));
        assert.equal(problem?.status, 400, JSON.stringify(name));
        assert.equal(problem?.code, 'INVALID_ARGUMENT');
        assert.equal(problem?.message, `last_name must not contain control characters (tabs and line breaks included); found ${codePoint}`);
      }
    });

    it('accepts letters of any script, accents, emoji and inner spaces', () => {
      for (const name of ['Zoë', 'José María', 'Łukasz', '李', 'Ada 😀', "O'Brien", 'Jean-Luc', '\u00a0Ada']) {
        assert.equal(problemOf(JSON.stringify({ first_name: name, last_name: 'L' })), undefined, name);
      }
    });

    it('allows 256 characters and refuses 257, counting characters rather than UTF-16 units', () => {
      assert.equal(problemOf(JSON.stringify({ first_name: 'a'.repeat(256), last_name: 'L' })), undefined);
      assert.equal(problemOf(JSON.stringify({ first_name: '😀'.repeat(256), last_name: 'L' })), undefined);
      assert.match(
        problemOf(JSON.stringify({ first_name: 'a'.repeat(257), last_name: 'L' }))?.message ?? '',
        /first_name must be at most 256 characters, got 257/,
      );
    });
  });
});
