// Where an artifact's bytes are: the link the API gave (an API path or a presigned URL), else the
// artifact download route.
import type { ArtifactView } from "./types.js";

export function artifactHref(a: ArtifactView): string {
  return a.downloadUrl ?? a.url ?? `/v1/artifacts/${encodeURIComponent(a.id)}/download`;
}
