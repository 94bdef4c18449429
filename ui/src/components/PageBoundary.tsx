import { Component, type ReactNode } from "react";
import { Alert, Button, Code, Stack, Text } from "@mantine/core";

/**
 * Keeps a page's drawing error on that page: the rest of the console stays
 * usable, the error is said in words, and the page can be drawn again.
 */
export class PageBoundary extends Component<{ children: ReactNode; onLeave: () => void }, { error: Error | null }> {
  state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    return (
      <Alert color="red" title="This page could not be drawn" data-testid="page-error">
        <Stack gap="xs">
          <Text size="sm">Nothing was changed by it. Try again, or go to another page; if it happens again, report what you did.</Text>
          <Code block>{error.message}</Code>
          <Button size="xs" w="fit-content" onClick={() => { this.setState({ error: null }); this.props.onLeave(); }}>Back to the dashboard</Button>
        </Stack>
      </Alert>
    );
  }
}
