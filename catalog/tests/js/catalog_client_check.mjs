// Drives Backstage's own CatalogClient against the portal and prints what it got as JSON.
// Usage: CATALOG_BASE_URL=http://host/api/catalog CATALOG_TOKEN=... LOCATION_ID=... node catalog_client_check.mjs
import { CatalogClient } from '@backstage/catalog-client';

const baseUrl = process.env.CATALOG_BASE_URL;
const token = process.env.CATALOG_TOKEN;

const client = new CatalogClient({
  discoveryApi: { getBaseUrl: async () => baseUrl },
  fetchApi: {
    fetch: (input, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('Authorization', `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    },
  },
});

const names = items => items.map(entity => entity.metadata.name);

const filtered = await client.getEntities({
  filter: [{ kind: 'component', 'spec.type': 'model-endpoint' }, { kind: 'group' }],
  fields: ['kind', 'metadata.name'],
});

const byRef = await client.getEntityByRef('component:default/fraud-model');
const missing = await client.getEntityByRef('component:default/no-such-model');

const pages = [];
let response = await client.queryEntities({
  filter: { kind: 'component' },
  orderFields: { field: 'metadata.name', order: 'asc' },
  limit: 2,
});
pages.push({ names: names(response.items), totalItems: response.totalItems });
while (response.pageInfo.nextCursor) {
  response = await client.queryEntities({ cursor: response.pageInfo.nextCursor, limit: 2 });
  pages.push({ names: names(response.items), totalItems: response.totalItems });
}

const facets = await client.getEntityFacets({ facets: ['spec.owner'], filter: { kind: 'component' } });
const location = await client.getLocationById(process.env.LOCATION_ID);
const byRefs = await client.getEntitiesByRefs({
  entityRefs: ['component:default/ranker', 'component:default/no-such-model'],
  fields: ['metadata.name'],
});

let error;
try {
  await client.queryEntities({ orderFields: { field: 'metadata.name', order: 'sideways' } });
} catch (e) {
  error = { name: e.name, status: e.response?.status, cause: e.body?.error?.name };
}

console.log(JSON.stringify({
  filtered: filtered.items,
  byRef: byRef && {
    name: byRef.metadata.name,
    uid: byRef.metadata.uid,
    etag: byRef.metadata.etag,
    relations: byRef.relations,
  },
  missing: missing ?? null,
  pages,
  facets,
  location,
  byRefs: byRefs.items.map(item => (item ? item.metadata.name : null)),
  error,
}));
