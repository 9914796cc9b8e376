local params = import 'params.libsonnet';  // app/params.libsonnet: the importing file's folder first
local k = import 'k.libsonnet';  // lib/ and vendor/ both have it: -J lib is right-most, so lib wins
local labels = import 'util/labels.libsonnet';  // only under vendor/
local conf = importstr 'files/app.conf';  // relative to app/

{
  deployment: k.deployment(params.name, params.replicas[std.extVar('env')], labels.common(params.name)),
  config: k.configMap(params.name + '-config', { 'app.conf': conf }),
}
