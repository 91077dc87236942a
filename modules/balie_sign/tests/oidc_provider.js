// This file is part of Digitale Balie.  The COPYRIGHT file at the top level
// of this repository contains the full copyright notices and license terms.
//
// A real OpenID Connect provider (the npm package oidc-provider, installed
// by scripts/oidc into var/oidc) standing in for the Flemish government's
// login service and itsme in the identity tests.
//
//   node oidc_provider.js <config.json>
//
// config.json: {"clients": [<client metadata>], "acr_values": [...]}.
// The provider listens on a free port of 127.0.0.1, with the issuer
// http://localhost:<port>, and prints one line of JSON when it is ready:
// {"issuer": "http://localhost:<port>"}.  PKCE (S256) is required for
// every client.  The account id is the national register number typed on
// the test login page; the scope "rrn" releases it as the claim "rrn"
// (through the userinfo endpoint, as itsme does).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.BALIE_OIDC_DIR
    || path.resolve(here, '..', '..', '..', 'var', 'oidc');
const require = createRequire(path.join(root, 'package.json'));
const { default: Provider } = await import(
    pathToFileURL(require.resolve('oidc-provider')).href);

const settings = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const acrValues = settings.acr_values || ['urn:be:fedict:iam:fas:Level500'];

function escape(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({
        '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
    }[c]));
}

function readForm(req) {
    return new Promise((resolve, reject) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk) => {
            body += chunk;
            if (body.length > 10000) {
                reject(new Error('body too large'));
            }
        });
        req.on('end', () => resolve(Object.fromEntries(
            new URLSearchParams(body))));
        req.on('error', reject);
    });
}

const configuration = {
    clients: settings.clients,
    acrValues,
    claims: {
        acr: null,
        amr: null,
        auth_time: null,
        sid: null,
        openid: ['sub'],
        profile: ['given_name', 'family_name', 'name'],
        rrn: ['rrn'],
    },
    async findAccount(ctx, id) {
        return {
            accountId: id,
            async claims() {
                return {
                    sub: 'test-' + id,
                    rrn: id,
                    given_name: 'Test',
                    family_name: 'Burger',
                    name: 'Test Burger',
                };
            },
        };
    },
    // first-party client: no consent screen, the requested scopes granted
    async loadExistingGrant(ctx) {
        const grantId = ctx.oidc.result?.consent?.grantId
            || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
        if (grantId) {
            return ctx.oidc.provider.Grant.find(grantId);
        }
        const grant = new ctx.oidc.provider.Grant({
            clientId: ctx.oidc.client.clientId,
            accountId: ctx.oidc.session.accountId,
        });
        grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
        await grant.save();
        return grant;
    },
    pkce: { required: () => true },
    features: {
        devInteractions: { enabled: false },
        userinfo: { enabled: true },
    },
    interactions: {
        url(ctx, interaction) {
            return `/interaction/${interaction.uid}`;
        },
    },
    cookies: { keys: ['balie-test-cookie-key-0123456789'] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600,
        Interaction: 600, Session: 600, Grant: 600 },
};

function loginPage(uid, details) {
    const options = acrValues.map((value) =>
        `<option value="${escape(value)}">${escape(value)}</option>`).join('');
    return `<!DOCTYPE html><html lang="nl"><head><meta charset="utf-8">
<title>Test login</title></head><body><main>
<h1>Test login</h1>
<p>Client: ${escape(details.params.client_id)}</p>
<form method="post" action="/interaction/${escape(uid)}/login">
<label for="login">Rijksregisternummer</label>
<input id="login" name="login" autocomplete="off" required>
<label for="acr">Niveau</label>
<select id="acr" name="acr">${options}</select>
<button type="submit">Aanmelden</button>
</form>
<form method="post" action="/interaction/${escape(uid)}/abort">
<button type="submit">Annuleren</button>
</form>
</main></body></html>`;
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    const issuer = `http://localhost:${port}`;
    const provider = new Provider(issuer, configuration);
    const callback = provider.callback();
    server.on('request', async (req, res) => {
        const match = /^\/interaction\/([\w-]+)(\/(login|abort))?$/.exec(
            req.url.split('?')[0]);
        if (!match) {
            callback(req, res);
            return;
        }
        try {
            const details = await provider.interactionDetails(req, res);
            if (req.method === 'GET' && !match[3]) {
                res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8'});
                res.end(loginPage(details.uid, details));
                return;
            }
            if (req.method !== 'POST') {
                res.writeHead(405).end();
                return;
            }
            const form = await readForm(req);
            let result;
            if (match[3] === 'login' && form.login) {
                result = { login: {
                    accountId: form.login.replace(/\D/g, ''),
                    acr: acrValues.includes(form.acr) ? form.acr
                        : acrValues[0],
                    amr: ['test'],
                } };
            } else {
                result = { error: 'access_denied',
                    error_description: 'the citizen cancelled' };
            }
            await provider.interactionFinished(req, res, result,
                { mergeWithLastSubmission: false });
        } catch (error) {
            res.writeHead(400, {'Content-Type': 'text/plain'});
            res.end(String(error && error.message));
        }
    });
    process.stdout.write(JSON.stringify({ issuer }) + '\n');
});

for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => server.close(() => process.exit(0)));
}
