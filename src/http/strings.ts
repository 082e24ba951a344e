// Every string a person reads on our pages, in one place (for wording reviews and, later, translation).
export const strings = {
  productName: 'Tessera',
  login: {
    title: 'Sign in',
    intro: 'Sign in to continue to',
    username: 'Username',
    password: 'Password',
    submit: 'Sign in',
    invalid: 'The username or password is incorrect.',
    cancel: 'Cancel',
  },
  consent: {
    title: 'Allow access?',
    intro: 'wants to access your account.',
    asks: 'It is asking to:',
    allow: 'Allow',
    deny: 'Deny',
    scopes: {
      openid: 'Confirm who you are',
      profile: 'See your name and username',
      email: 'See your email address',
      offline_access: 'Stay connected while you are away',
    } as Record<string, string>,
    unknownScope: 'Use the permission',
    resource: 'on',
  },
  logout: {
    title: 'Sign out?',
    question: 'Do you want to sign out of',
    confirm: 'Yes, sign me out',
    stay: 'No, stay signed in',
    doneTitle: 'Signed out',
    done: 'You have been signed out.',
    doneFrom: 'You have been signed out of',
  },
  error: {
    title: 'Something went wrong',
    generic: 'The request could not be completed.',
    back: 'Close this page and start again from the application you were using.',
  },
} as const;

export type Strings = typeof strings;
