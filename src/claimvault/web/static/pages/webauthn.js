// WebAuthn for the MFA pages: register a security key or passkey, or use one to log in.
// Loaded as a same-origin file (the CSP allows no inline script). Endpoints, the CSRF token and the page to
// go to next come from data attributes on the button; the JSON API does the checking.
(function () {
  "use strict";

  function fromB64url(value) {
    var b64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      var out = { type: d.type || "public-key", id: fromB64url(d.id) };
      if (d.transports) { out.transports = d.transports; }
      return out;
    });
  }

  function creationOptions(json) {
    var o = Object.assign({}, json);
    o.challenge = fromB64url(json.challenge);
    o.user = Object.assign({}, json.user, { id: fromB64url(json.user.id) });
    o.excludeCredentials = descriptors(json.excludeCredentials);
    return o;
  }

  function requestOptions(json) {
    var o = Object.assign({}, json);
    o.challenge = fromB64url(json.challenge);
    o.allowCredentials = descriptors(json.allowCredentials);
    return o;
  }

  function credentialJSON(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (typeof r.getTransports === "function") { response.transports = r.getTransports(); }
    }
    if (r.authenticatorData) {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) { response.userHandle = toB64url(r.userHandle); }
    }
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: response,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      authenticatorAttachment: cred.authenticatorAttachment || undefined
    };
  }

  function postJSON(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var message = (data && data.error && data.error.message) || "The request failed.";
          throw new Error(message);
        }
        return data;
      });
    });
  }

  function unwrapOptions(data) {
    return data.publicKey || data.options || data;
  }

  function say(text) {
    var status = document.getElementById("webauthn-status");
    if (status) { status.textContent = text; }
  }

  function failed(err) {
    if (err && (err.name === "NotAllowedError" || err.name === "AbortError")) {
      say("The security key request was cancelled or timed out. Try again.");
    } else {
      say((err && err.message) || "The security key could not be used.");
    }
  }

  function showRecoveryCodes(codes, next) {
    var section = document.getElementById("webauthn-codes");
    var list = document.getElementById("webauthn-codes-list");
    if (!codes || !codes.length || !section || !list) {
      window.location.assign(next);
      return;
    }
    list.textContent = "";
    codes.forEach(function (code) {
      var item = document.createElement("li");
      var text = document.createElement("code");
      text.textContent = code;
      item.appendChild(text);
      list.appendChild(item);
    });
    section.hidden = false;
    section.scrollIntoView();
  }

  function register(button) {
    if (!window.PublicKeyCredential) { say("This browser does not support security keys."); return; }
    var csrf = button.dataset.csrf;
    var nameField = document.getElementById("webauthn-name");
    var name = (nameField && nameField.value.trim()) || "Security key";
    button.disabled = true;
    say("Follow your browser's prompt…");
    postJSON(button.dataset.optionsUrl, csrf, {})
      .then(function (data) {
        return navigator.credentials.create({ publicKey: creationOptions(unwrapOptions(data)) });
      })
      .then(function (cred) {
        return postJSON(button.dataset.verifyUrl, csrf, { name: name, credential: credentialJSON(cred) });
      })
      .then(function (data) {
        say("Security key registered.");
        showRecoveryCodes(data.recovery_codes, button.dataset.next);
      })
      .catch(failed)
      .finally(function () { button.disabled = false; });
  }

  function authenticate(button) {
    if (!window.PublicKeyCredential) { say("This browser does not support security keys."); return; }
    var csrf = button.dataset.csrf;
    button.disabled = true;
    say("Follow your browser's prompt…");
    postJSON(button.dataset.optionsUrl, csrf, {})
      .then(function (data) {
        return navigator.credentials.get({ publicKey: requestOptions(unwrapOptions(data)) });
      })
      .then(function (cred) {
        return postJSON(button.dataset.verifyUrl, csrf, { credential: credentialJSON(cred) });
      })
      .then(function () { window.location.assign(button.dataset.next); })
      .catch(failed)
      .finally(function () { button.disabled = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var reg = document.getElementById("webauthn-register");
    if (reg) { reg.addEventListener("click", function () { register(reg); }); }
    var auth = document.getElementById("webauthn-authenticate");
    if (auth) { auth.addEventListener("click", function () { authenticate(auth); }); }
  });
})();
