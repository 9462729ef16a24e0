// The `npx fedit ...` lines of the README's shell blocks, run as written (same shell, same variables) with
// --help appended, the first line of each command: it must exist through npx in the clone, and every option
// any README line uses must be one its --help lists. Running them for real is the other tests' job.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

interface ReadmeCommand { readonly line: string, readonly prelude: readonly string[] }

/** The fedit lines of the README's ```sh blocks (continuations joined, comments cut) with the block's assignments. */
function readmeCommands (readme: string): ReadmeCommand[] {
  const out: ReadmeCommand[] = []
  for (const m of readme.matchAll(/^( *)```sh\n([\s\S]*?)^ *```/gm)) {
    const lines = m[2]!.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => l !== '')
    const prelude = lines.filter((l) => /^[A-Z_]+=\S+( [A-Z_]+=\S+)*$/.test(l))
    for (const line of lines) if (line.startsWith('npx fedit ')) out.push({ line, prelude })
  }
  return out
}

test('the README shows its commands as npx fedit, never a bare fedit that is not on PATH', () => {
  const readme = readFileSync('README.md', 'utf8')
  const cmds = readmeCommands(readme)
  assert.ok(cmds.length >= 10, `found only ${cmds.length} commands`)
  for (const m of readme.matchAll(/^ *```sh\n([\s\S]*?)^ *```/gm)) {
    for (const l of m[1]!.split('\n')) assert.doesNotMatch(l, /^\s*fedit /, `a bare fedit in the README: ${l}`)
  }
})

test('each README command runs as written through npx, with options its --help lists', () => {
  const all = readmeCommands(readFileSync('README.md', 'utf8'))
  const nameOf = (c: ReadmeCommand): string => c.line.split(' ')[2]!
  const cmds = all.filter((c, i) => all.findIndex((d) => nameOf(d) === nameOf(c)) === i)
  const sep = '@@@fedit-readme@@@'
  // one shell for all of them (npx costs ~2 s a start); each prints its help, then a separator and its status
  const script = cmds.map((c) => `${c.prelude.join('; ')}${c.prelude.length > 0 ? '; ' : ''}${c.line} --help; echo ` +
    `"${sep}$?"`).join('\n')
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 180_000,
    env: { ...process.env, npm_config_offline: 'true' } })
  assert.equal(r.status, 0, r.stderr)
  const outputs = r.stdout.split(new RegExp(`${sep}(\\d+)\\n`))
  const helps = new Map<string, string>()
  for (const [i, c] of cmds.entries()) {
    const help = outputs[2 * i]!
    const status = outputs[2 * i + 1]
    assert.equal(status, '0', `${c.line} --help exited ${status}: ${r.stderr}`)
    assert.match(help, new RegExp(`^usage: fedit ${nameOf(c)} `), `${c.line} --help printed: ${help.slice(0, 200)}`)
    helps.set(nameOf(c), help)
  }
  for (const c of all) {
    for (const flag of c.line.match(/(?<=\s)--[a-z][a-z0-9-]*/g) ?? []) {
      assert.ok(helps.get(nameOf(c))!.includes(flag), `${c.line}: ${flag} is not in fedit ${nameOf(c)} --help`)
    }
  }
})
