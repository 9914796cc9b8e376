{
  container(name):: {
    name: name,
    image: 'gcr.io/heptio-images/ks-guestbook-demo:0.2',
    ports: [{ containerPort: 80 }],
  },
}
