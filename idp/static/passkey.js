// Passkey buttons. A form with data-passkey="create" or "get" carries the server's WebAuthn
// options (JSON) in data-options; submitting it asks the browser for a passkey, puts the
// answer (JSON, binary fields as base64url) in its hidden "credential" field, and posts the
// form with its CSRF token like any other. Served from this origin: the pages allow no
// inline script.
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBytes(item.id), transports: item.transports };
    });
  }

  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    options.excludeCredentials = descriptors(options.excludeCredentials);
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.allowCredentials = descriptors(options.allowCredentials);
    return options;
  }

  function asJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      out.response.userHandle = response.userHandle ? toText(response.userHandle) : null;
    }
    return out;
  }

  function show(form, message) {
    var status = form.querySelector(".passkey-status");
    if (status) {
      status.textContent = message;
      status.hidden = false;
    }
  }

  function ask(form) {
    var options = JSON.parse(form.getAttribute("data-options"));
    if (form.getAttribute("data-passkey") === "create") {
      return navigator.credentials.create({ publicKey: creationOptions(options) });
    }
    return navigator.credentials.get({ publicKey: requestOptions(options) });
  }

  var forms = document.querySelectorAll("form[data-passkey]");
  for (var i = 0; i < forms.length; i++) {
    (function (form) {
      if (!window.PublicKeyCredential || !navigator.credentials) {
        show(form, form.getAttribute("data-unsupported") || "This browser cannot use passkeys.");
        return;
      }
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (form.reportValidity && !form.reportValidity()) { return; }
        ask(form).then(function (credential) {
          form.querySelector("input[name=credential]").value = JSON.stringify(asJSON(credential));
          // submit() posts without firing this handler again.
          form.submit();
        }).catch(function (error) {
          // The page's words, in its language, with {reason} for the browser's error name.
          var failed = form.getAttribute("data-failed") ||
            "No passkey was used ({reason}). Try again, or use another way to verify.";
          show(form, failed.replace("{reason}", error && error.name || "error"));
        });
      });
    })(forms[i]);
  }
})();
