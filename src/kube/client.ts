/**
 * The one door to @kubernetes/client-node. Its package index pulls in about 800 modules (every API
 * group and model), which costs a CLI command 0.7–0.8 s before it does anything; `npm run build`
 * replaces the compiled form of this file with an esbuild bundle of just these names (see
 * scripts/bundle-kube.mjs), which loads in about 0.1 s, or half that with the V8 code cache the build
 * makes for it. Import client-node through here only, so the bundle holds everything cnidbg uses.
 */
export {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CertificatesV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  makeInformer,
  NetworkingV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node'
export type {
  Informer,
  V1CertificateSigningRequest,
  KubernetesListObject,
  KubernetesObject,
  ObjectCache,
  V1DaemonSet,
  V1EndpointSlice,
  V1ContainerPort,
  V1LabelSelector,
  V1Namespace,
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1Node,
  V1Pod,
  V1Service,
  V1ServicePort,
  V1SubjectAccessReview,
  V1TokenReview,
} from '@kubernetes/client-node'
