local app = import 'app.libsonnet';
local settings = import 'config/settings.json';
function(replicas='1') {
  local env = std.extVar('env'),
  frontend: [app.deployment('frontend', std.parseInt(replicas), env), app.service('frontend')],
  config: {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'settings-' + env },
    data: { [k]: std.toString(settings[k]) for k in std.objectFields(settings) },
  },
}
