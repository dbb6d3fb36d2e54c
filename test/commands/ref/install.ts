import t from 'tap'

t.test('ref install passes its flags to the service and returns its result', async (t) => {
  let got: any
  const {default: RefInstall} = await t.mockImport<typeof import('../../../src/commands/ref/install.js')>(
    '../../../src/commands/ref/install.js',
    {
      '../../../src/reference-plugin/install.js': {
        installRefPlugins: (o: any) => {
          got = o
          return {
            binDir: o.binDir,
            conflist: '/c/10-x.conflist',
            executables: ['/b/cnidbg-ref', '/b/cnidbg-ipam'],
            sea: false,
            config: {},
          }
        },
      },
    },
  )
  const result = await RefInstall.run([
    '--bin-dir',
    '/b',
    '--conf-dir',
    '/c',
    '--subnet',
    '10.244.1.0/24',
    '--mtu',
    '1450',
    '--name',
    'x',
    '--json',
  ])
  t.match(got, {binDir: '/b', confDir: '/c', subnet: '10.244.1.0/24', mtu: 1450, name: 'x', sea: false})
  t.match(result, {conflist: '/c/10-x.conflist'})
})
