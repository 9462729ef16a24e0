// How a failure reads in a log line: an Error's message, else what was rejected (node/error-text.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { errorText } from '../../node/error-text.ts'

test('errorText: the message, the name of an Error without one, or what the rejection held', () => {
  assert.equal(errorText(new Error('stream reset')), 'stream reset')
  assert.equal(errorText(Object.assign(new Error(''), { name: 'AbortError' })), 'AbortError')
  assert.equal(errorText({ message: 'from another realm' }), 'from another realm')
  assert.equal(errorText(undefined), 'a rejection with no reason')
  assert.equal(errorText('closed'), 'a rejection with the value closed')
})
