local h = import 'helpers.libsonnet';  // lib/helpers.libsonnet, relative to this file

{
  deployment(name, replicas, labels):: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: name, labels: labels },
    spec: {
      replicas: replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: labels { app: name } },
        spec: { containers: [h.container(name)] },
      },
    },
  },
  configMap(name, data):: {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: name },
    data: data,
  },
}
