// Worker-thread entry: registers the TypeScript loader in this thread (loaders are per thread when they
// are registered through the API), then loads the TS module named in workerData.module.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.module)
