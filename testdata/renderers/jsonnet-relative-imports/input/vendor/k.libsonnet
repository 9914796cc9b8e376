// Shadowed: -J lib comes after -J vendor, and the right-most jpath wins.
{ deployment(name, replicas, labels):: { kind: 'Wrong' }, configMap(name, data):: { kind: 'Wrong' } }
