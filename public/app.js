// Keyward dashboard: small progressive enhancements. Every page works without this file.
(function () {
  'use strict';

  // Copy buttons: <button data-copy-target="id"> copies the value of that field.
  function copy(button) {
    var target = document.getElementById(button.getAttribute('data-copy-target'));
    var status = document.getElementById('copy-status');
    if (!target) return;
    var text = target.value !== undefined ? target.value : target.textContent;
    var done = function (ok) {
      if (status) status.textContent = ok ? 'Copied to the clipboard.' : 'Copy did not work: select the text and copy it by hand.';
      if (ok) {
        button.textContent = 'Copied';
        setTimeout(function () { button.textContent = 'Copy'; }, 2000);
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(fallback(target)); });
    } else {
      done(fallback(target));
    }
  }

  function fallback(target) {
    try {
      target.focus();
      target.select();
      return document.execCommand('copy');
    } catch (e) {
      return false;
    }
  }

  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('[data-copy-target]');
    if (button) {
      event.preventDefault();
      copy(button);
    }
  });

  // The secret field selects itself on focus, so it is easy to copy by hand too.
  document.addEventListener('focusin', function (event) {
    if (event.target.classList && event.target.classList.contains('secret')) event.target.select();
  });

  // Selects marked data-autosubmit (tenant switcher) submit on change; the button stays for keyboards.
  document.addEventListener('change', function (event) {
    if (event.target.matches && event.target.matches('select[data-autosubmit]')) event.target.form.submit();
  });

  // Rate-limit overrides: the placeholders show the chosen tier's defaults (the hint lists every tier without this).
  var WINDOWS = ['perMinute', 'perHour', 'perDay', 'perMonth'];
  function showTierDefaults() {
    var tier = document.getElementById('f-tier');
    if (!tier || !tier.selectedOptions || !tier.selectedOptions[0]) return;
    var limits = (tier.selectedOptions[0].getAttribute('data-limits') || '').split(' ');
    WINDOWS.forEach(function (name, i) {
      var input = document.querySelector('[data-tier-limit="' + name + '"]');
      if (input && limits[i]) input.placeholder = Number(limits[i]).toLocaleString('en-US') + ' (' + tier.value + ' default)';
    });
  }

  // Typing a number of days or a date picks the matching expiry choice, so it is not ignored.
  document.addEventListener('input', function (event) {
    var pick = { 'f-expiresInDays': 'days', 'f-expiresAt': 'date' }[event.target.id];
    if (!pick || event.target.value === '') return;
    var radio = document.querySelector('input[name="expiry"][value="' + pick + '"]');
    if (radio) radio.checked = true;
  });

  document.addEventListener('change', function (event) {
    if (event.target.id === 'f-tier') showTierDefaults();
  });

  // Move focus to an error summary so screen readers announce what to fix.
  document.addEventListener('DOMContentLoaded', function () {
    showTierDefaults();
    var summary = document.querySelector('[data-focus]');
    if (summary) summary.focus();
  });
})();
