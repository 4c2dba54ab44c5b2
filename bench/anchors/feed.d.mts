// Types of feed.mjs, for the TypeScript that imports it (the ceiling, the port's test).
import type { FeedSummary } from '../../examples/feedhub/feed.js';

export function parseFeed(url: string, xml: string): Omit<FeedSummary, 'bytes'>;
export function fetchFeed(url: string): Promise<FeedSummary>;
export function closeFeeds(): Promise<void>;
