local version = import '../version.libsonnet';  // vendor/version.libsonnet, relative to this file

{
  common(name):: {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/version': version,
    'app.kubernetes.io/managed-by': 'configsync',
  },
}
