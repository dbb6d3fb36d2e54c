/** The reference plugin as `cnidbg ref install` puts it on a node. */
export {installRefPlugins, type RefInstallOptions, type RefInstallResult} from '../reference-plugin/install.js'
