import { useEffect, useRef, useState } from "react";
import { Alert, Group, Loader, Stack, Text } from "@mantine/core";
import { GlobalWorkerOptions, getDocument } from "pdfjs-dist";
import workerUrl from "pdfjs-dist/build/pdf.worker.min.mjs?url";
import { call } from "../api/invoke";

GlobalWorkerOptions.workerSrc = workerUrl;

/**
 * The PDF of an invoice or credit note exactly as it is exported: the bytes
 * come from the engine's renderer and pdf.js draws each page on a canvas.
 * `version` re-renders after the document changed (a void stamps it).
 */
export function PdfPreview({ number, version }: { number: string; version: number }) {
  const pagesRef = useRef<HTMLDivElement>(null);
  const [pages, setPages] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    setPages(null);
    setError(null);
    (async () => {
      const bytes = await call("document_pdf", { number });
      const doc = await getDocument({ data: new Uint8Array(bytes) }).promise;
      const canvases: HTMLCanvasElement[] = [];
      const ratio = window.devicePixelRatio || 1;
      for (let i = 1; i <= doc.numPages; i++) {
        const page = await doc.getPage(i);
        const viewport = page.getViewport({ scale: 1.15 * ratio });
        const canvas = document.createElement("canvas");
        canvas.width = Math.floor(viewport.width);
        canvas.height = Math.floor(viewport.height);
        canvas.style.width = `${Math.floor(viewport.width / ratio)}px`;
        canvas.style.boxShadow = "0 1px 4px rgba(0,0,0,.25)";
        canvas.style.background = "white";
        canvas.dataset.page = String(i);
        const context = canvas.getContext("2d");
        if (!context) throw new Error("this window cannot draw on a canvas");
        await page.render({ canvas, canvasContext: context, viewport }).promise;
        canvases.push(canvas);
      }
      if (cancelled) return;
      pagesRef.current?.replaceChildren(...canvases);
      setPages(doc.numPages);
      await doc.destroy();
    })().catch((e) => !cancelled && setError(e instanceof Error ? e.message : String(e)));
    return () => { cancelled = true; };
  }, [number, version]);

  return (
    <Stack gap="xs" data-testid="pdf-preview" data-pages={pages ?? undefined}>
      {error && <Alert color="red" title="The PDF could not be shown">{error}</Alert>}
      {pages === null && !error && <Group><Loader size="sm" /><Text size="sm" c="dimmed">Rendering the PDF…</Text></Group>}
      {pages !== null && <Text size="xs" c="dimmed">{pages === 1 ? "1 page" : `${pages} pages`}, as exported</Text>}
      <Stack ref={pagesRef} gap="md" align="center" p="sm" bg="gray.1" />
    </Stack>
  );
}
