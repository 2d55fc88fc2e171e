// Status of credentials by @digitalbazaar/vc-bitstring-status-list (checkStatus), the
// library whose default issuer check refused the hub's credentials before issue 11.
// stdin: {"credentials": [credential, ...]}; stdout: {"results": [{status, error}, ...]}.
// The list credential is fetched over HTTP and its VC-JWT payload handed to the library
// (the library verifies only Data Integrity proofs: verifyBitstringStatusListCredential is
// off; the JWT signature is checked by the joserfc oracle). An ELM credential's status is
// one xsd:anyURI "<statusListCredential>#<index>" (the EDC shapes allow nothing else);
// it is given to the library as the BitstringStatusListEntry it denotes (revocation).
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';

const XSD_ANY_URI = 'http://www.w3.org/2001/XMLSchema#anyURI';

async function documentLoader(url) {
  const response = await fetch(url, {headers: {accept: 'application/vc+jwt'}});
  if(!response.ok) {
    throw new Error(`${url} answered ${response.status}`);
  }
  const token = (await response.text()).trim();
  const payload = token.split('.')[1];
  const document = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  return {contextUrl: null, documentUrl: url, document};
}

function asEntry(credential) {
  const status = credential.credentialStatus;
  if(status && status['@type'] === XSD_ANY_URI) {
    const [url, index] = status['@value'].split('#');
    return {
      ...credential,
      credentialStatus: {
        id: status['@value'],
        type: 'BitstringStatusListEntry',
        statusPurpose: 'revocation',
        statusListIndex: index,
        statusListCredential: url
      }
    };
  }
  return credential;
}

const input = JSON.parse(await new Response(process.stdin).text());
const results = [];
for(const credential of input.credentials) {
  try {
    const result = await checkStatus({
      credential: asEntry(credential),
      documentLoader,
      verifyBitstringStatusListCredential: false
    });
    results.push({
      verified: result.verified,
      status: result.verified ? result.results[0].status : null,
      error: result.error ? String(result.error.message || result.error) : null
    });
  } catch(e) {
    results.push({verified: false, status: null, error: String(e.message || e)});
  }
}
process.stdout.write(JSON.stringify({results}));
