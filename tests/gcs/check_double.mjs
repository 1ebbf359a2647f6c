// Google's own auth library (google-auth-library, pinned in npm/) against
// the GCS double: a service account's JWT grant and the metadata server,
// then an object read through the storage front with each token.  Proves
// that the double speaks the protocol the real endpoints speak.
//
//   node check_double.mjs DOUBLE_URL SA_JSON OBJECT_PATH EXPECTED_FILE
//
// OBJECT_PATH (/BUCKET/KEY) must hold what EXPECTED_FILE holds.
//
// The library sends its grant to https://oauth2.googleapis.com/token
// whatever the key file's token_uri says (gtoken hard-codes it), so the
// request is sent on to the double's token_uri by an interceptor; the
// assertion's aud stays Google's URL, which the double must be started to
// accept (--audience https://oauth2.googleapis.com/token).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('./npm/', import.meta.url));
const { GoogleAuth } = require('google-auth-library');

const [doubleUrl, keyFile, objectPath, expectedFile] = process.argv.slice(2);
const expected = readFileSync(expectedFile, 'utf8');
const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

function fail(message) {
  console.error(`check_double: ${message}`);
  process.exit(1);
}

async function readObject(client, how) {
  const res = await client.request({ url: doubleUrl + objectPath, responseType: 'text' });
  if (res.status !== 200 || res.data !== expected)
    fail(`${how}: reading ${objectPath} gave HTTP ${res.status} ${JSON.stringify(res.data)}`);
}

async function serviceAccount() {
  delete process.env.GCE_METADATA_HOST;
  process.env.GOOGLE_APPLICATION_CREDENTIALS = keyFile;
  const tokenUri = JSON.parse(readFileSync(keyFile, 'utf8')).token_uri;
  const auth = new GoogleAuth({ scopes: [SCOPE] });
  const client = await auth.getClient();
  if (client.constructor.name !== 'JWT') fail(`expected a JWT client, got ${client.constructor.name}`);
  client.transporter.interceptors.request.add({
    resolved: async (opts) => {
      if (String(opts.url) === GOOGLE_TOKEN_URL) opts.url = new URL(tokenUri);
      return opts;
    },
  });
  const { token } = await client.getAccessToken();
  if (!token || !token.startsWith('ya29.')) fail('service account: no token');
  await readObject(client, 'service account');
  console.log(`service account: token from ${tokenUri}, object read through the storage front`);
}

async function metadataServer() {
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  process.env.GCE_METADATA_HOST = new URL(doubleUrl).host;
  // No key file: the library must detect "Google Compute Engine" by itself.
  const auth = new GoogleAuth({ scopes: [SCOPE] });
  const client = await auth.getClient();
  if (client.constructor.name !== 'Compute') fail(`expected a Compute client, got ${client.constructor.name}`);
  const { token } = await client.getAccessToken();
  if (!token || !token.startsWith('ya29.')) fail('metadata server: no token');
  await readObject(client, 'metadata server');
  console.log(`metadata server: detected at ${process.env.GCE_METADATA_HOST}, token, object read`);
}

try {
  await serviceAccount();
  await metadataServer();
} catch (e) {
  fail(e.stack || String(e));
}
