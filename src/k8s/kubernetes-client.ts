// The part of @kubernetes/client-node the agent uses, and the only door to it.
//
// `npm run build` bundles this file with everything it imports into one
// module, dist/vendor/kubernetes-client.js (esbuild; package.json "bundle"),
// and the agent imports it as `#kubernetes-client` (package.json "imports":
// the bundle at run time, this file's types at compile time). Why: the
// package is ~3,000 ES modules (every generated API model), and Node keeps a
// loader record, a module namespace and the source of each; as one module the
// same code costs 15 MB less RSS to import, 15-27 MB less in an agent with 110
// pods (BENCHMARKS.md 5). Only what
// is exported here can be imported, so the bundle and its users cannot drift.
// The bundle's banner gives it a `require` (createRequire): some of the
// client's dependencies are CommonJS and require Node's built-ins.
export { AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, KubeConfig, ListWatch, Watch } from '@kubernetes/client-node';
export type { KubernetesListObject, V1Pod } from '@kubernetes/client-node';
