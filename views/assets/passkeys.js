// Passkeys in the browser (W3C WebAuthn Level 3), for the forms the server marks with data-passkey:
//   "sign-in"        the sign-in page: conditional UI (the username field's autofill offers passkeys) and
//                    the "Sign in with a passkey" button
//   "register"       the account page's "Add a passkey" form (name and current password are its own fields)
//   "second-factor"  a second-factor step after a password: the button asks for one of the account's passkeys
// Each asks the server for fresh options (POST JSON to data-options, with the page's CSRF token; the server
// keeps the challenge), runs navigator.credentials, puts the result as JSON in the form's "credential" field
// and submits the form: the server verifies, then answers 303 or a readable page. No library, no inline
// script (the CSP allows neither); base64url by hand.
(function () {
  'use strict';

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = '';
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function fromBase64url(value) {
    var base64 = value.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((value.length + 3) % 4);
    var text = atob(base64);
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes.buffer;
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return { type: d.type || 'public-key', id: fromBase64url(d.id), transports: d.transports };
    });
  }

  function creationOptions(json) {
    var options = Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      user: Object.assign({}, json.user, { id: fromBase64url(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials),
    });
    delete options.hints;
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json, { challenge: fromBase64url(json.challenge), allowCredentials: descriptors(json.allowCredentials) });
    delete options.hints;
    return options;
  }

  function extensionResults(credential) {
    try {
      return credential.getClientExtensionResults() || {};
    } catch (e) {
      return {};
    }
  }

  /** A PublicKeyCredential as JSON (WebAuthn §5.1): what both ceremonies share, around their `response`. */
  function credentialJson(credential, response) {
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: extensionResults(credential),
      response: response,
    };
  }

  function registrationJson(credential) {
    var r = credential.response;
    return credentialJson(credential, {
      clientDataJSON: toBase64url(r.clientDataJSON),
      attestationObject: toBase64url(r.attestationObject),
      transports: typeof r.getTransports === 'function' ? r.getTransports() : [],
    });
  }

  function assertionJson(credential) {
    var r = credential.response;
    var response = {
      clientDataJSON: toBase64url(r.clientDataJSON),
      authenticatorData: toBase64url(r.authenticatorData),
      signature: toBase64url(r.signature),
    };
    if (r.userHandle && r.userHandle.byteLength > 0) response.userHandle = toBase64url(r.userHandle);
    return credentialJson(credential, response);
  }

  function field(form, name) {
    return form.querySelector('input[name="' + name + '"]');
  }

  function showError(form, message) {
    var box = form.querySelector('[data-passkey-error]');
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
  }

  /** Fresh options from the server; the challenge stays there. */
  function fetchOptions(form) {
    return fetch(form.getAttribute('data-options'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ csrf: field(form, 'csrf').value }),
    }).then(function (res) {
      return res.json().then(function (body) {
        if (!res.ok) throw new Error(body.error_description || 'the server refused the request');
        return body;
      });
    });
  }

  function submitWith(form, json) {
    field(form, 'credential').value = JSON.stringify(json);
    form.submit();
  }

  /** navigator.credentials.get with the server's options, as the JSON the server reads. */
  function assertWith(json) {
    return navigator.credentials.get({ publicKey: requestOptions(json) }).then(assertionJson);
  }

  /** navigator.credentials.create with the server's options, as the JSON the server reads. */
  function createWith(json) {
    return navigator.credentials.create({ publicKey: creationOptions(json) }).then(registrationJson);
  }

  /**
   * A ceremony the person started (a button): once `ready`, fresh options, the browser's ceremony, the result
   * posted with the form; a failure enables the button again and says why on the page.
   */
  function runCeremony(form, button, ready, ceremony) {
    if (button) button.disabled = true;
    ready
      .then(function () {
        return fetchOptions(form);
      })
      .then(ceremony)
      .then(function (json) {
        submitWith(form, json);
      })
      .catch(function (error) {
        if (button) button.disabled = false;
        showError(form, failureMessage(form, error));
      });
  }

  function failureMessage(form, error) {
    if (error && (error.name === 'NotAllowedError' || error.name === 'AbortError')) return form.getAttribute('data-cancelled') || 'The passkey request was cancelled.';
    return (error && error.message) || 'The passkey could not be used.';
  }

  function setUpSignIn(form) {
    var conditional = null;
    var pendingOptions = Promise.resolve();

    function startConditional() {
      conditional = new AbortController();
      var signal = conditional.signal;
      var options = fetchOptions(form);
      pendingOptions = options.catch(function () {});
      options
        .then(function (json) {
          return navigator.credentials.get({ publicKey: requestOptions(json), mediation: 'conditional', signal: signal });
        })
        .then(function (credential) {
          if (credential) submitWith(form, assertionJson(credential));
        })
        .catch(function () {
          /* cancelled, or replaced by the button: nothing to say */
        });
    }

    var button = form.querySelector('[data-passkey-start]');
    button.addEventListener('click', function () {
      if (conditional) conditional.abort();
      conditional = null;
      // The conditional request's options must reach the server first, or they would replace these.
      runCeremony(form, button, pendingOptions, assertWith);
    });

    if (typeof PublicKeyCredential.isConditionalMediationAvailable === 'function') {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) startConditional();
      });
    }
  }

  function setUpSecondFactor(form) {
    var button = form.querySelector('[data-passkey-start]');
    button.addEventListener('click', function () {
      runCeremony(form, button, Promise.resolve(), assertWith);
    });
  }

  function setUpRegister(form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      runCeremony(form, form.querySelector('button[type="submit"]'), Promise.resolve(), createWith);
    });
  }

  if (typeof window.PublicKeyCredential !== 'function' || !navigator.credentials) return;
  var forms = document.querySelectorAll('form[data-passkey]');
  for (var i = 0; i < forms.length; i++) {
    var form = forms[i];
    var kind = form.getAttribute('data-passkey');
    if (kind === 'sign-in') setUpSignIn(form);
    else if (kind === 'register') setUpRegister(form);
    else if (kind === 'second-factor') setUpSecondFactor(form);
    else continue;
    form.hidden = false;
  }
})();
