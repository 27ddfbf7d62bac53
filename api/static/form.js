// The public intake form: sends submitLead as a GraphQL multipart request, shows each error
// beside its field, and retries a failed connection with the same clientSubmissionId, so a
// retry can never create a second lead. No libraries, no build step.
'use strict';

(() => {
  const QUERY = 'mutation SubmitLead($input: SubmitLeadInput!, $resume: Upload!) {' +
    ' submitLead(input: $input, resume: $resume) { id status submittedAt } }';
  const FIELDS = ['firstName', 'lastName', 'email', 'resume', 'consent'];
  const LABELS = { firstName: 'First name', lastName: 'Last name', email: 'Email', resume: 'The résumé' };
  const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 8000];

  const form = document.getElementById('intake-form');
  const button = document.getElementById('submit');
  const progress = document.getElementById('progress');
  const formError = document.getElementById('form-error');
  const maxBytes = Number(form.dataset.maxBytes);
  // One id per submission, kept across retries and corrections until it succeeds.
  let submissionId = newSubmissionId();
  let sending = false;

  function newSubmissionId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function humanBytes(n) {
    const mib = 1024 * 1024;
    return n >= mib ? `${Math.round((n / mib) * 10) / 10} MB` : `${Math.round(n / 1024)} KB`;
  }

  function setFieldError(field, message) {
    const input = document.getElementById(field);
    const slot = document.getElementById(`${field}-error`);
    slot.textContent = message || '';
    slot.hidden = !message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  function showFormError(message) {
    formError.textContent = message;
    formError.hidden = !message;
  }

  function clearErrors() {
    FIELDS.forEach((f) => setFieldError(f, ''));
    showFormError('');
  }

  // Field errors go beside their fields; focus moves to the first, whose error its
  // aria-describedby reads out. The summary at the top is announced at once.
  function showFieldErrors(errors) {
    FIELDS.forEach((f) => { if (errors[f]) setFieldError(f, errors[f]); });
    const first = FIELDS.find((f) => errors[f]);
    const count = FIELDS.filter((f) => errors[f]).length;
    showFormError(count === 1 ? 'Please correct the field marked below.' : `Please correct the ${count} fields marked below.`);
    if (first) document.getElementById(first).focus();
  }

  function checkLocally() {
    const errors = {};
    const file = form.resume.files[0];
    if (!file) errors.resume = 'Choose your résumé file.';
    else if (file.size === 0) errors.resume = 'This file is empty; choose the file again.';
    else if (file.size > maxBytes) errors.resume = `This file is larger than the limit of ${humanBytes(maxBytes)}.`;
    if (!form.consent.checked) errors.consent = 'Please agree, so that we can review your details.';
    return errors;
  }

  // Where the prospect came from, as the page's address and referrer tell: UTM parameters,
  // ad click ids, the referring page and this landing page. Values are trimmed to the API's
  // bounds so that an overlong ad parameter never costs a lead.
  function attribution() {
    const params = new URLSearchParams(window.location.search);
    const value = (name, max) => (params.get(name) || '').trim().slice(0, max) || null;
    const url = (raw) => (/^https?:\/\//.test(raw || '') && raw.length <= 2000 ? raw : null);
    return {
      utmSource: value('utm_source', 200),
      utmMedium: value('utm_medium', 200),
      utmCampaign: value('utm_campaign', 200),
      utmTerm: value('utm_term', 200),
      utmContent: value('utm_content', 200),
      gclid: value('gclid', 200),
      fbclid: value('fbclid', 200),
      referrer: url(document.referrer),
      landingPage: url(window.location.href),
    };
  }

  function body() {
    const input = {
      firstName: form.firstName.value,
      lastName: form.lastName.value,
      email: form.email.value,
      website: form.website.value,
      clientSubmissionId: submissionId,
      consent: form.consent.checked,
      source: 'website',
      attribution: attribution(),
    };
    const data = new FormData();
    data.append('operations', JSON.stringify({ query: QUERY, variables: { input, resume: null } }));
    data.append('map', JSON.stringify({ 0: ['variables.resume'] }));
    data.append('0', form.resume.files[0]);
    return data;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Network failures and server errors (5xx) are retried with the same submission id, so a
  // retry can never make a second lead; a 503 (the server's database or file store is briefly
  // away) after the wait its Retry-After asks for. An answer about the request itself (4xx,
  // GraphQL errors) is not retried.
  async function post() {
    for (let attempt = 0; ; attempt += 1) {
      let response = null;
      try {
        response = await fetch('/graphql', { method: 'POST', body: body(), headers: { Accept: 'application/json' } });
      } catch (_) {
        response = null;
      }
      if (response && response.status < 500) return response;
      if (attempt >= RETRY_DELAYS_MS.length) return response;
      const asked = response && response.status === 503 ? Number(response.headers.get('Retry-After')) : NaN;
      const wait = asked > 0 ? Math.min(asked, 30) * 1000 : RETRY_DELAYS_MS[attempt];
      const seconds = Math.max(1, Math.round(wait / 1000));
      progress.textContent = response
        ? `Our system is briefly unavailable. Your details are safe here; trying again in ${seconds} s (attempt ${attempt + 2} of ${RETRY_DELAYS_MS.length + 1})…`
        : `The connection failed; trying again in ${seconds} s…`;
      await sleep(wait);
      progress.textContent = 'Sending…';
    }
  }

  // "firstName must not be empty" → "First name must not be empty".
  function readable(field, message) {
    const text = message.startsWith(`${field} `) ? `${LABELS[field] || field} ${message.slice(field.length + 1)}` : message;
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function showServerErrors(errors) {
    const byField = {};
    let general = '';
    for (const error of errors) {
      const ext = error.extensions || {};
      if (ext.field && FIELDS.includes(ext.field)) {
        byField[ext.field] = byField[ext.field] || readable(ext.field, error.message);
      } else if (ext.code === 'RATE_LIMITED') {
        const wait = ext.retryAfter ? ` Please try again in ${ext.retryAfter} seconds.` : ' Please try again later.';
        general = general || `Too many submissions came from your network.${wait}`;
      } else if (ext.code === 'SERVICE_UNAVAILABLE') {
        general = general || 'Our system is unavailable just now. Your details were not lost: please press Send again in a minute; they will not be sent twice.';
      } else if (ext.code === 'INTERNAL') {
        general = general || 'Something went wrong on our side. Please try again in a few minutes.';
      } else {
        general = general || readable('', error.message || 'The form could not be sent.');
      }
    }
    if (Object.keys(byField).length) showFieldErrors(byField);
    if (general) {
      showFormError(general);
      formError.focus();
    }
  }

  function confirm(receipt) {
    document.getElementById('reference').textContent = receipt.id;
    document.getElementById('confirmation-email').textContent = form.email.value.trim();
    form.hidden = true;
    const confirmation = document.getElementById('confirmation');
    confirmation.hidden = false;
    confirmation.focus();
    submissionId = newSubmissionId();
  }

  function setSending(on) {
    sending = on;
    button.disabled = on;
    form.setAttribute('aria-busy', on ? 'true' : 'false');
    progress.textContent = on ? 'Sending…' : '';
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (sending) return;
    clearErrors();
    const local = checkLocally();
    if (Object.keys(local).length) {
      showFieldErrors(local);
      return;
    }
    setSending(true);
    try {
      const response = await post();
      if (!response) {
        showFormError('We could not reach the server. Check your connection and press Send again: your details will not be sent twice.');
        formError.focus();
        return;
      }
      let answer = null;
      try {
        answer = await response.json();
      } catch (_) {
        answer = null;
      }
      const receipt = answer && answer.data && answer.data.submitLead;
      if (receipt) confirm(receipt);
      else if (answer && answer.errors) showServerErrors(answer.errors);
      else {
        showFormError('The server could not take the form just now. Please press Send again in a moment.');
        formError.focus();
      }
    } finally {
      setSending(false);
    }
  });

  // A new file or a ticked box clears that field's error as the person fixes it.
  FIELDS.forEach((f) => document.getElementById(f).addEventListener('change', () => setFieldError(f, '')));
})();
