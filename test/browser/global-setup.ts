// vitest globalSetup: build the dashboard page into dist/dashboard/web when it is missing or older than
// its sources (esbuild, well under a second), so the server under test serves the page of this tree.
import { ensureDashboardBuilt } from '../../scripts/build-dashboard.js';

export default async function setup(): Promise<void> {
  await ensureDashboardBuilt();
}
