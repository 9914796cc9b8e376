{
  name: 'guestbook',
  replicas: { staging: 1, production: 3 },
}
