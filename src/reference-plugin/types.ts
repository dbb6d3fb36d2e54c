/** The CNI result model, in its 1.1.0 shape; result.ts converts to and from each wire version. */
export interface Interface {
  name: string
  mac?: string
  mtu?: number
  sandbox?: string
  socketPath?: string
  pciID?: string
}

export interface IPConfig {
  /** CIDR, e.g. 10.244.1.5/24. */
  address: string
  gateway?: string
  /** Index into `interfaces`; absent in an IPAM plugin's abbreviated result (SPEC §5). */
  interface?: number
}

export interface Route {
  dst: string
  gw?: string
  mtu?: number
  advmss?: number
  priority?: number
  table?: number
  scope?: number
}

export interface DNS {
  nameservers?: string[]
  domain?: string
  search?: string[]
  options?: string[]
}

export interface Result {
  cniVersion: string
  interfaces?: Interface[]
  ips?: IPConfig[]
  routes?: Route[]
  dns?: DNS
}

export interface Attachment {
  containerID: string
  ifname: string
}
