// Not imported: app/main.jsonnet's own folder comes first.
{ name: 'wrong-root-params', replicas: { staging: 99, production: 99 } }
