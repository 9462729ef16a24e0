// The tests' headless browser: Debian's chromium (apt-get install chromium; .ci/run installs it) driven by
// puppeteer-core. CHROMIUM_PATH overrides where it is looked for.
import { existsSync } from 'node:fs'
import puppeteer from 'puppeteer-core'
import type { Browser } from 'puppeteer-core'

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']

/** the browser's path, or undefined with the reason the browser tests are skipped */
export function findChromium (): { path?: string, skip?: string } {
  const env = process.env.CHROMIUM_PATH
  if (env !== undefined && env !== '') {
    return existsSync(env) ? { path: env } : { skip: `CHROMIUM_PATH=${env} does not exist` }
  }
  const path = CANDIDATES.find((p) => existsSync(p))
  if (path !== undefined) return { path }
  return { skip: `no chromium at ${CANDIDATES.join(', ')} (apt-get install -y chromium, or set CHROMIUM_PATH)` }
}

export async function launch (path: string): Promise<Browser> {
  // --no-sandbox: CI runs the tests as root, where chromium's sandbox refuses to start
  const args = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']
  return await puppeteer.launch({ executablePath: path, headless: true, args })
}

/** where screenshots go: FEDIT_SCREENSHOTS=DIR, else the test's own temporary folder */
export function screenshotDir (fallback: string): string {
  return process.env.FEDIT_SCREENSHOTS ?? fallback
}
