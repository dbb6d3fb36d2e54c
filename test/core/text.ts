import t from 'tap'

import {capText, oneLine, visible, visibleStrings} from '../../src/core/text.js'

t.test('capText keeps text up to the limit and says how much it cut beyond it', async (t) => {
  t.equal(capText('', 3), '')
  t.equal(capText('abc', 3), 'abc')
  t.equal(capText('abcd', 3), 'abc…[1 more characters cut]')
  t.equal(capText('x'.repeat(10_000), 5), 'xxxxx…[9995 more characters cut]')
})

t.test('visible: a terminal sequence in text from outside is dropped, other controls are shown as \\xNN', async (t) => {
  t.equal(visible('a\u001b[2K\u001b[1Ab'), 'ab', 'erase line, cursor up')
  t.equal(visible('c\u001b]52;c;aGVsbG8=\u0007d'), 'cd', 'OSC 52 (set the clipboard)')
  t.equal(visible('x\ry\u0000z\u009b'), 'x\\x0dy\\x00z\\x9b', 'CR, NUL and C1 made visible')
  t.equal(visible('line\r\nnext\ttab'), 'line\nnext\ttab', 'CRLF is a newline; tabs and newlines stay')
  t.equal(oneLine(' a \n\u001b[31mb\u001b[0m  c '), 'a b c')
})

t.test('visibleStrings: every string of plain data, at any depth; the rest as it was', async (t) => {
  const data = {a: 'x\u001b[2Ky', n: 3, ok: true, none: null, list: ['\u0000', {deep: ['\r']}]}
  t.same(visibleStrings(data), {a: 'xy', n: 3, ok: true, none: null, list: ['\\x00', {deep: ['\\x0d']}]})
  t.equal(data.a, 'x\u001b[2Ky', 'the data itself is not changed')
})

t.test('visible: a UTF-16 half without its partner becomes U+FFFD; a surrogate pair is kept', async (t) => {
  t.equal(visible('x\uDC00y'), 'x\uFFFDy')
  t.equal(visible('😀 ok'), '😀 ok')
})
