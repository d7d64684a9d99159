import { Api } from "../lib/api";

// One API client for the whole page: it holds the session every screen uses.
export const api = new Api();
